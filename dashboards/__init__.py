"""Panel/Bokeh dashboards: live fleet view and offline CSV analysis."""
