"""codequarry: semantic code search for people and AI agents.

The package layout follows the pipeline: walk → chunk → embed → store → search,
with eval/ and train/ built on top.
"""

__version__ = "0.1.0"
