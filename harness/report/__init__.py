"""Renderings of results: terminal, HTML, Markdown, JUnit."""
