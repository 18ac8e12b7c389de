"""Pruning backends: interchangeable parts with one contract (see ``base.Backend``)."""
