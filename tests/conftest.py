import os

from hypothesis import settings

pytest_plugins = ["tests.kafka_fixtures", "pytester"]

# CI runs the property tests on a fixed, reproducible set of examples (a red CI must be
# reproducible from its log); developers' runs explore new examples every time.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
