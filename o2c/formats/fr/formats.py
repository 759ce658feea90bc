"""The English formats: see ``o2c.formats``."""

from django.conf.locale.en.formats import *  # noqa: F403
