import cProfile, pstats, time, django, os

os.environ["DJANGO_SETTINGS_MODULE"] = "o2c.settings.dev"
django.setup()
from django.db import transaction
from o2c.models import Organization
from o2c.tenancy import tenant_context
from collecting.prediction import services
from collecting.prediction.features import load_history

org = Organization.objects.get(slug="bench-50k")
with tenant_context(org):
    h = load_history()
    services.MIN_SETTLED = 10**9
    tr = services.train(h, before=org.today())
    from collecting.prediction.model import Baseline
    import numpy as np

    # force a model: quick fit on a sample
    rows = services.settled_rows(h, org.today().toordinal())[-20000:]
    tr = services.Training(services.fit_calibrated(h, rows), "published", {}, len(rows))
    pr = cProfile.Profile()
    pr.enable()
    timings = {}
    with transaction.atomic():
        services.predictions_store(h, tr, today=org.today(), timings=timings)
        transaction.set_rollback(True)
    pr.disable()
    print(timings)
    pstats.Stats(pr).sort_stats("tottime").print_stats(18)
