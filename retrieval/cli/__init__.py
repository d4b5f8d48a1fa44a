"""The command line: the `citebot` commands, terminal rendering, progress bars and evaluation."""
