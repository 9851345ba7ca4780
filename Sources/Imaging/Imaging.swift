// Imaging: filled in by the Imaging work.
