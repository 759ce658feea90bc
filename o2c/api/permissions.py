"""Role checks for the API.

A view declares ``capability`` (one name for every method) or ``capabilities``
(per HTTP method or per action); reads default to "view".
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from o2c.roles import role_can


class RolePermission(BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request, view):
        role = getattr(request, "o2c_role", None)
        if role is None:
            return False
        return role_can(role, required_capability(request, view))


def required_capability(request, view) -> str:
    per_action = getattr(view, "capabilities", {})
    action = getattr(view, "action", None)
    if action in per_action:
        return per_action[action]
    if request.method in per_action:
        return per_action[request.method]
    if request.method in SAFE_METHODS:
        return "view"
    return getattr(view, "capability", "administer")
