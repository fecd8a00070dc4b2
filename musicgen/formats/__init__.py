"""The files the toolkit writes, one module each: its names, its record, its reader and its writer."""
