// Parse an AsyncAPI document with the official parser; print one JSON line:
// {"valid": bool, "diagnostics": [{code, severity, message, path}]}
// (severity 0 error, 1 warning, 2 information, 3 hint). Usage: node validate.cjs PARSER_DIR FILE
"use strict";
const path = require("node:path");
const { Parser, fromFile } = require(path.join(process.argv[2], "node_modules", "@asyncapi", "parser"));

(async () => {
  const { document, diagnostics } = await fromFile(new Parser(), process.argv[3]).parse();
  const out = diagnostics.map((d) => ({
    code: d.code, severity: d.severity, message: d.message, path: d.path,
  }));
  console.log(JSON.stringify({ valid: document !== undefined, diagnostics: out }));
})().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(2);
});
