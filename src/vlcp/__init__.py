"""vlcp: dataset distillation via vision-language category prototypes."""

__version__ = "0.1.0"
