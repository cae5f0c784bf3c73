#!/usr/bin/env python3
"""A real, minimal Django site (admin, auth, sessions) for the browser suite, in one file.

Usage:
    auth_site.py migrate
    auth_site.py createuser --username U --password P [--staff] [--superuser] [--inactive]
    auth_site.py setpassword --username U --password P
    auth_site.py serve --port N [--host 127.0.0.1]

Environment: DATABASE_URL (`postgres://user[:password]@host[:port]/name` or `sqlite:/path`),
SECRET_KEY, SECRET_KEY_FALLBACKS (comma-separated; Django 4.1+ only), CSRF_USE_SESSIONS (`true`),
CSRF_TRUSTED_ORIGINS (comma-separated origins; Django 4.0+ only: 3.2 checks no Origin).
Besides the admin, three views of `django.middleware.csrf`: `GET /csrf/token/` answers
{"token": get_token(request)}; `POST /csrf/protected/` answers {"ok": true} once CsrfViewMiddleware
let it through; `GET /csrf/form/?action=URL` renders a form posting to URL with `{% csrf_token %}`.
`createuser` prints {"id": n} (--superuser implies --staff, as createsuperuser). `serve` prints `READY http://host:port` once it accepts connections
(--port 0 picks a free port). Works on Debian's Django 3.2 and on Django 5.2.
"""
import argparse
import json
import os

from django_peer import database_settings


def configure(secret_key, fallbacks=(), database_url=None):
    import django
    from django.conf import settings
    trusted_origins = [origin for origin in os.environ.get('CSRF_TRUSTED_ORIGINS', '').split(',') if origin]
    settings.configure(
        CSRF_USE_SESSIONS=os.environ.get('CSRF_USE_SESSIONS') == 'true',
        **({'CSRF_TRUSTED_ORIGINS': trusted_origins} if django.VERSION >= (4, 0) else {}),
        DEBUG=False,
        ALLOWED_HOSTS=['127.0.0.1', 'localhost', '127.0.0.2'],
        SECRET_KEY=secret_key,
        **({'SECRET_KEY_FALLBACKS': list(fallbacks)} if django.VERSION >= (4, 1) else {}),
        DATABASES={'default': database_settings(database_url)} if database_url else {},
        INSTALLED_APPS=[
            'django.contrib.admin',
            'django.contrib.auth',
            'django.contrib.contenttypes',
            'django.contrib.sessions',
            'django.contrib.messages',
        ],
        MIDDLEWARE=[
            'django.contrib.sessions.middleware.SessionMiddleware',
            'django.middleware.common.CommonMiddleware',
            'django.middleware.csrf.CsrfViewMiddleware',
            'django.contrib.auth.middleware.AuthenticationMiddleware',
            'django.contrib.messages.middleware.MessageMiddleware',
        ],
        TEMPLATES=[{
            'BACKEND': 'django.template.backends.django.DjangoTemplates',
            'APP_DIRS': True,
            'OPTIONS': {'context_processors': [
                'django.template.context_processors.request',
                'django.contrib.auth.context_processors.auth',
                'django.contrib.messages.context_processors.messages',
            ]},
        }],
        ROOT_URLCONF=__name__,
        # The admin's templates load `static`; no files are served (the pages work unstyled).
        STATIC_URL='/static/',
        SESSION_ENGINE='django.contrib.sessions.backends.db',
        DEFAULT_AUTO_FIELD='django.db.models.AutoField',
        USE_TZ=True,
        TIME_ZONE='UTC',
    )
    django.setup()
    # ROOT_URLCONF is this module; the admin can only be imported once Django is set up.
    from django.contrib import admin
    from django.urls import path
    global urlpatterns
    urlpatterns = [
        path('admin/', admin.site.urls),
        path('csrf/token/', csrf_token_view),
        path('csrf/protected/', csrf_protected_view),
        path('csrf/form/', csrf_form_view),
    ]


def csrf_token_view(request):
    from django.http import JsonResponse
    from django.middleware.csrf import get_token
    return JsonResponse({'token': get_token(request)})


def csrf_protected_view(request):
    from django.http import HttpResponseNotAllowed, JsonResponse
    if request.method != 'POST':
        return HttpResponseNotAllowed(['POST'])
    return JsonResponse({'ok': True})


def csrf_form_view(request):
    from django.http import HttpResponse
    from django.template import engines
    page = engines['django'].from_string(
        '<!doctype html><title>A Django form</title>'
        '<form id="form" method="post" action="{{ action }}">{% csrf_token %}'
        '<input name="greeting" value="from a Django page"><button type="submit">send</button></form>'
    )
    return HttpResponse(page.render({'action': request.GET.get('action', '')}, request))


def cmd_migrate(_options):
    from django.core.management import call_command
    call_command('migrate', verbosity=0, interactive=False)


def cmd_createuser(options):
    from django.contrib.auth.models import User
    user = User.objects.create_user(
        options.username,
        password=options.password,
        is_staff=options.staff or options.superuser,
        is_superuser=options.superuser,
        is_active=not options.inactive,
    )
    print(json.dumps({'id': user.pk}))


def cmd_setpassword(options):
    from django.contrib.auth.models import User
    user = User.objects.get(username=options.username)
    user.set_password(options.password)
    user.save()


def cmd_serve(options):
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application
    application = get_wsgi_application()
    server = ThreadedWSGIServer((options.host, options.port), WSGIRequestHandler)
    server.set_app(application)
    print('READY http://%s:%d' % (options.host, server.server_address[1]), flush=True)
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser('migrate').set_defaults(run=cmd_migrate)
    createuser = commands.add_parser('createuser')
    createuser.set_defaults(run=cmd_createuser)
    for flag in ('--staff', '--superuser', '--inactive'):
        createuser.add_argument(flag, action='store_true')
    setpassword = commands.add_parser('setpassword')
    setpassword.set_defaults(run=cmd_setpassword)
    for command in (createuser, setpassword):
        command.add_argument('--username', required=True)
        command.add_argument('--password', required=True)
    serve = commands.add_parser('serve')
    serve.set_defaults(run=cmd_serve)
    serve.add_argument('--port', type=int, required=True)
    serve.add_argument('--host', default='127.0.0.1')
    options = parser.parse_args()
    for required in ('DATABASE_URL', 'SECRET_KEY'):
        if not os.environ.get(required):
            parser.error('%s is required' % required)
    fallbacks = [key for key in os.environ.get('SECRET_KEY_FALLBACKS', '').split(',') if key]
    configure(os.environ['SECRET_KEY'], fallbacks, os.environ['DATABASE_URL'])
    options.run(options)


if __name__ == '__main__':
    main()
