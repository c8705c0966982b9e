"""What a build links against: OpenBLAS, the library recipes (``recipes.json`` beside
``recipes.py``) and the licences of bundled libraries."""
