"""The offline demo: sample Arabic outlets served on loopback, one full cycle, alerts shown."""
