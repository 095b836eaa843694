"""One module per `minibert` command; see minibert/cli.py."""
