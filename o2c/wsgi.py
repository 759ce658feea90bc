import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from o2c.startup import freeze_loaded_objects

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "o2c.settings.dev")
application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 (loads the views before the freeze)
freeze_loaded_objects()
