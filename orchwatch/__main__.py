from orchwatch.cli import entry

entry()
