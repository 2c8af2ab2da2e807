"""One pytest module of graded tests per course part, named after the part."""
