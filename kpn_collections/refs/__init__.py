"""References: bundle external `$ref`s into the document, resolve internal ones, retrieve referenced
files."""
