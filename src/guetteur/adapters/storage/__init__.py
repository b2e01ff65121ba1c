"""Segment storage adapters. `SegmentStore` (services/ports.py) is the protocol; `LocalStore`
keeps files under one directory, one folder per camera and stream."""
