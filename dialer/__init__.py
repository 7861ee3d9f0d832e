"""Process wiring: the ``dialer`` command, settings, logs, probes and metrics, and the
roles built from engine/, adapters/ and consumers/. Nothing else imports from here."""
