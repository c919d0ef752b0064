"""HTML timeline reports: a job's ``report.html`` and the page of one analysis.

Pages are self-contained (styles inline, thumbnails as ``data:`` URIs, no scripts, no
network) and built from Jinja2 templates with autoescaping, so text from videos,
questions or model output is always shown as text::

    from videoqa.report import render_job_report
    render_job_report("out/")            # writes out/report.html

    html = videoqa.analyze("talk.mp4", "When is the chart shown?", task="grounding").to_html()
"""

from videoqa.report._render import render_analysis_html, render_job_html, render_job_report

__all__ = ["render_analysis_html", "render_job_html", "render_job_report"]
