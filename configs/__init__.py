"""The shipped sweep files (package data ``bench.configs``); `mlpbench configs` lists them."""
