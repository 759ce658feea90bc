from rest_framework.routers import SimpleRouter

from invoicing.imports import apis

router = SimpleRouter()
router.register("", apis.ImportJobViewSet, basename="import")

urlpatterns = router.urls
