"""Built-in reference systems (BM25, dense, hybrid) serving the ragbench contract."""
