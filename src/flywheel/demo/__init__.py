"""A dataset the project generates itself, so ``make demo`` runs offline in minutes."""

from flywheel.demo.medications import generate_medications

__all__ = ["generate_medications"]
