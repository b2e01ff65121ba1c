"""`python -m guetteur` runs the command line."""

from guetteur.cli import main

main()
