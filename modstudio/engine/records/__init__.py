"""What the GUI thread reads of runs, without torch: run folders' files and the runs list."""
