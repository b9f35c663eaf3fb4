"""Browser tests of the dashboards (headless Chromium via Playwright)."""
