"""The plate tables now live in models.py; kept as an alias module for older imports."""

from guetteur.adapters.db.models import (  # noqa: F401
    PLATE_TABLES,
    PlateGram,
    PlateKey,
    PlatePassage,
    PlateRead,
)
