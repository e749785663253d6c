"""Traffic model, what-if simulator and staffing (Erlang C and A) for the hotline.

Pure core (no asyncio, no sockets, no database): ``erlang``, ``traffic``,
``calendar``, ``arrivals``, ``caller``, ``engine``, ``kpi``, ``runner``,
``staffing``, ``fit``, ``report``, ``plot``. The one adapter is
``fit_io`` (reads the ``cdr`` table for ``aiguilleur sim fit``).
"""
