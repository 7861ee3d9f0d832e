"""``dialer loadtest``: simulated call volume end to end, a live display and a report.

config (arguments → LoadConfig), runner (simulators + engine + feeding + reading back),
recorder (what is measured), progress (the live display), report (CSV, PNG, HTML, table).
"""

from dialer.loadtest.config import LoadConfig, NodeSpec, add_arguments, from_args

__all__ = ["LoadConfig", "NodeSpec", "add_arguments", "from_args", "main"]


async def main(config: LoadConfig) -> int:
    """Run, write the report folder, print the summary table."""
    from pathlib import Path

    from dialer.loadtest import report, runner

    result = await runner.run(config)
    out = Path(config.out)
    s = report.write(result, out)
    print(report.table(s))
    print(f"\nreport: {out / 'report.html'} (CSV and PNG files beside it)")
    return 0 if s["errors"]["cdrs_missing"] == 0 else 1
