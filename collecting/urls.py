from django.urls import include, path

from collecting import plan_views, template_views, views

app_name = "collecting"

collections = [
    path("my-day/", views.my_day, name="my_day"),
    path("my-day/<int:pk>/panel/", views.account_panel, name="account_panel"),
    path("my-day/<int:pk>/<slug:action>/", views.account_action, name="account_action"),
    path("my-day/reassign/", views.reassign, name="reassign"),
    path("runs/", views.runs, name="runs"),
    path("runs/start/", views.run_now, name="run_now"),
    path("runs/preview/", views.run_preview, name="run_preview"),
    path("notices/<int:pk>/check/", views.notice_check, name="notice_check"),
    path("policies/", views.policy_list, name="policies"),
    path("policies/new/", views.policy_new, name="policy_new"),
    path("templates/new/", views.template_new, name="template_new"),
    path("policies/<int:pk>/", views.policy_detail, name="policy"),
    path("policies/<int:policy_pk>/steps/new/", views.step_edit, name="step_new"),
    path("steps/<int:pk>/", views.step_edit, name="step"),
    path("steps/<int:pk>/preview/", views.step_preview, name="step_preview"),
    path(
        "<slug:kind>/<int:pk>/texts/",
        template_views.texts_edit,
        name="texts",
    ),
    path(
        "<slug:kind>/<int:pk>/texts/preview/",
        template_views.texts_preview,
        name="texts_preview",
    ),
    path("customers/<int:pk>/timeline/", views.timeline, name="timeline"),
    path(
        "disputes/<int:pk>/attachment/",
        views.dispute_attachment,
        name="dispute_attachment",
    ),
    path("customers/<int:pk>/plans/new/", plan_views.plan_new, name="plan_new"),
    path("plans/<int:pk>/", plan_views.plan_detail, name="plan"),
    path("plans/<int:pk>/cancel/", plan_views.plan_cancel, name="plan_cancel"),
]

urlpatterns = [path("collections/", include(collections))]
