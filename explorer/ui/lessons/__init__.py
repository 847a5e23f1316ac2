"""The Lessons tab (issue 18): the classic claims about CNN design, each with its source, the
numbers measured here beside the paper's, the evidence, and links into the other views.

    view.py      LessonsView: the list beside the selected lesson's page; outcomes cached
    lesson_list.py  the numbered list ("trains" marks an experiment)
    page.py      one lesson's page: claim, sources, outcome, what to look at, links
    outcome_view.py  an Outcome drawn: figures, verdict, notes, tables, charts
    tables.py, chart.py  the compact tables and the charts
    run.py       an experiment trained again on a thread of its own
    run_box.py   "Run it yourself", its progress and Stop
"""
