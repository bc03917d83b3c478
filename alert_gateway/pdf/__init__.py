"""HTML pages laid out as PDF by WeasyPrint in a child process, never in the gateway's own."""
