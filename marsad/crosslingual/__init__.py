"""Cross-lingual copies: is an Arabic article a machine translation of a non-Arabic one? (#17)

``profile`` turns an article into vectors and anchors (it loads the multilingual model on first
use, once per process), ``verify`` compares two profiles and gives a verdict with its evidence.
Importing this package loads nothing heavy.
"""
