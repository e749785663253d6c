"""The web app's features, one module each: its handlers and its ``ROUTES`` (``web.http.RouteSpec``).

``web.app`` joins the tables into one: routing, the access each route needs and the OpenAPI document.
"""
