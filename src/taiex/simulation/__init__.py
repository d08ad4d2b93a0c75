"""``taiex simulate``: replay the daily loop over past days and measure what it served.

records  the folder's CSV tables, their formats and the resume bookkeeping
summary  the figures, computed from the CSV tables alone
page     the figures told plainly, and the page of plots (index.html)
plots    the page's plots
"""
