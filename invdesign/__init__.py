"""invdesign: inverse design of 3D multiphase microstructures.

The design loop, studies, recipes and their verification, the public API and the CLI.
"""

__version__ = "0.1.0"
