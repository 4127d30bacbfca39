"""`python -m infra.cli` = `movierec`."""

from infra.cli import main

main()
