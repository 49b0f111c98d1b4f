"""``python -m flywheel`` runs the CLI, so launchers that take a module can start it unchanged:
``torchrun --nproc_per_node 2 -m flywheel train embedder ...`` (see docs/scaling.md)."""

from flywheel.cli.app import main

if __name__ == "__main__":
    main()
