"""anonymize: find faces and licence plates in footage and obscure them before publication."""

__version__ = "0.1.0"
