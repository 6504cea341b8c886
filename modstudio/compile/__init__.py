"""From document to torch: shape inference (torch-free), GraphNet, summaries."""
