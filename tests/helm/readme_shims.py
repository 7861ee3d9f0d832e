"""Stand-ins for ``helm``, ``kubectl`` and ``docker`` while the READMEs' shell blocks run.

The blocks run in a real bash, so quoting and escaping are exactly what a reader's shell
does. There is no cluster here, so ``helm install``/``upgrade`` become ``helm template``
plus ``helm lint --strict`` with the same arguments, run by the real helm binary
(``REAL_HELM``); the rendered manifests are kept for the test to inspect. ``helm test``
succeeds only if the release was rendered with a test hook. ``helm show``/``lint``/
``template`` run as they are. ``kubectl create secret generic`` records the Secret (the
test resolves the pods' environment against it); other kubectl commands are recorded.
``docker build`` checks that its Dockerfile and context exist.

Invoked as ``python -m tests.helm.readme_shims <tool> <args...>`` by the wrappers that
``install(bin_dir)`` writes. Everything is logged as JSON lines to ``SHIM_OUT/log.jsonl``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Final

# helm install/upgrade flags that take a value (the others are booleans)
_VALUE_FLAGS: Final = {"-f", "--values", "--set", "--set-string", "--set-json", "--set-file",
                       "--set-literal", "-n", "--namespace", "--version", "--timeout",
                       "--kube-version", "-a", "--api-versions", "--description",
                       "--post-renderer", "--kube-context", "--kubeconfig",
                       # docker build
                       "-t", "--tag", "--build-arg", "--platform", "--file"}
# values-related flags `helm lint` understands too
_LINT_FLAGS: Final = {"-f", "--values", "--set", "--set-string", "--set-json", "--set-file",
                      "--set-literal", "-n", "--namespace", "--kube-version"}
# upgrade-only flags `helm template` does not know
_UPGRADE_ONLY: Final = {"--install", "-i", "--reuse-values", "--reset-values",
                        "--reset-then-reuse-values", "--cleanup-on-fail", "--force",
                        "--history-max"}


def _out() -> Path:
    return Path(os.environ["SHIM_OUT"])


def _log(entry: dict[str, object]) -> None:
    with (_out() / "log.jsonl").open("a") as fh:
        fh.write(json.dumps(entry) + "\n")


def _split(args: list[str]) -> tuple[list[str], list[tuple[str, str | None]]]:
    """Positional arguments and (flag, value) pairs, ``--flag=value`` included."""
    positional: list[str] = []
    flags: list[tuple[str, str | None]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and len(arg) > 1:
            name, eq, value = arg.partition("=")
            if eq:
                flags.append((name, value))
            elif name in _VALUE_FLAGS:
                flags.append((name, args[i + 1]))
                i += 1
            else:
                flags.append((name, None))
        else:
            positional.append(arg)
        i += 1
    return positional, flags


def _flat(flags: list[tuple[str, str | None]]) -> list[str]:
    return [part for name, value in flags for part in ([name] if value is None
                                                       else [name, value])]


def _real(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([os.environ["REAL_HELM"], *args], capture_output=True, text=True,
                          timeout=120, check=False)


def helm(args: list[str]) -> int:
    if not args:
        return 2
    sub = args[0]
    if sub in ("install", "upgrade"):
        positional, flags = _split(args[1:])
        if len(positional) != 2:
            print(f"helm {sub}: expected RELEASE CHART, got {positional}", file=sys.stderr)
            return 1
        release, chart = positional
        template_flags = [f for f in flags if f[0] not in _UPGRADE_ONLY]
        if sub == "upgrade":
            template_flags.append(("--is-upgrade", None))
        run = _real("template", release, chart, *_flat(template_flags))
        sys.stderr.write(run.stderr)
        if run.returncode != 0:
            return run.returncode
        index = len(list(_out().glob("render-*.yaml")))
        render = _out() / f"render-{index}.yaml"
        render.write_text(run.stdout)
        lint = _real("lint", "--strict", chart, *_flat([f for f in flags if f[0] in _LINT_FLAGS]))
        if lint.returncode != 0:
            sys.stderr.write(lint.stdout + lint.stderr)
            return lint.returncode
        _log({"tool": "helm", "sub": sub, "argv": args, "release": release, "chart": chart,
              "flags": flags, "render": render.name})
        return 0
    if sub == "test":
        positional, _ = _split(args[1:])
        rendered = [json.loads(line) for line in (_out() / "log.jsonl").read_text().splitlines()
                    if '"render"' in line] if (_out() / "log.jsonl").exists() else []
        mine = [e for e in rendered if e.get("release") == positional[0]]
        if not mine:
            print(f"helm test: release {positional[0]} was never installed", file=sys.stderr)
            return 1
        manifest = (_out() / str(mine[-1]["render"])).read_text()
        if "helm.sh/hook: test" not in manifest:
            print("helm test: the release has no test hook", file=sys.stderr)
            return 1
        _log({"tool": "helm", "sub": "test", "argv": args})
        return 0
    if sub in ("show", "lint", "template", "version", "dependency"):
        run = _real(*args)
        sys.stdout.write(run.stdout)
        sys.stderr.write(run.stderr)
        _log({"tool": "helm", "sub": sub, "argv": args, "rc": run.returncode})
        return run.returncode
    if sub in ("status", "history", "rollback", "uninstall", "get", "list"):
        _log({"tool": "helm", "sub": sub, "argv": args})
        return 0
    print(f"helm {sub}: not known to the README test", file=sys.stderr)
    return 1


def kubectl(args: list[str]) -> int:
    positional, flags = _split(args)
    if positional[:3] == ["create", "secret", "generic"]:
        data: dict[str, str] = {}
        for name, value in flags:
            if name == "--from-literal" and value is not None:
                key, _, literal = value.partition("=")
                data[key] = literal
            elif name == "--from-file" and value is not None:
                key, _, path = value.partition("=")
                data[key] = Path(path).read_text()
        (_out() / f"secret-{positional[3]}.json").write_text(json.dumps(data))
    _log({"tool": "kubectl", "argv": args})
    return 0


def docker(args: list[str]) -> int:
    positional, flags = _split(args)
    if positional and positional[0] == "build":
        dockerfile = next((v for n, v in flags if n in ("-f", "--file")), None)
        if dockerfile is not None and not Path(dockerfile).is_file():
            print(f"docker build: no {dockerfile}", file=sys.stderr)
            return 1
        if len(positional) < 2 or not Path(positional[-1]).is_dir():
            print("docker build: no build context", file=sys.stderr)
            return 1
    _log({"tool": "docker", "argv": args})
    return 0


TOOLS: Final = {"helm": helm, "kubectl": kubectl, "docker": docker}


def install(bin_dir: Path) -> None:
    """Write the ``helm``, ``kubectl`` and ``docker`` wrappers into ``bin_dir``."""
    root = Path(__file__).resolve().parents[2]
    for tool in TOOLS:
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{root}" exec "{sys.executable}" '
                           f'-m tests.helm.readme_shims {tool} "$@"\n')
        wrapper.chmod(0o755)


if __name__ == "__main__":
    sys.exit(TOOLS[sys.argv[1]](sys.argv[2:]))
