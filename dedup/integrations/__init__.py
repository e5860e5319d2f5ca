"""Ways to run dedup inside other tools.

Each integration is its own module, imported on its own, so that its optional
dependency is needed only by those who use it:

- :mod:`dedup.integrations.scrapy`: :class:`~dedup.integrations.scrapy.DedupPipeline`,
  a Scrapy item pipeline (``pip install "dedup[scrapy]"``).
"""
