"""Analytics over the warehouse: the report sections as an importable API.

from aladia_etl.analytics import api
with api.connect(settings) as conn:
    api.summary(conn)
    api.top_customers(conn, top=10)
    api.products(conn, top=10)
    api.realtime(conn, minutes=15)
    api.anomalies(conn, minutes=120, threshold=3.5)
    api.insights(api.build_report(conn))
"""
