#!/usr/bin/env python3
"""Prints, as JSON, what the running Django computes for the auth bridge's hashes.

"sessionAuthHash": get_session_auth_hash() of a user whose stored password is "password", under
SECRET_KEY "secret" (also checked against its documented salted_hmac formula).
"passwords": hasher.encode(raw, salt, iterations) with fixed salts, so the output is reproducible.
"defaultPasswords": make_password(raw) with this Django's defaults (random salts).
test/fixtures/django-auth-vectors.json is this output from Debian's Django 3.2;
test/django/auth-vectors.e2e-spec.ts checks that the running Django still computes it.
"""
import json
import sys

from auth_site import configure

SECRETS = [
    'django-insecure-k7#v!2y@9p$w^3m&x(q)z+r-e_t=u8b*o0n1l4j6h5g%f%d',
    'clé-secrète-ключ-密钥-🔑',
    # A retired key, as SECRET_KEY_FALLBACKS would hold it (Django 4.1+ checks session hashes against those too).
    'old-secret-key-now-in-SECRET_KEY_FALLBACKS',
]
RAW_PASSWORDS = ['correct horse battery staple', 'pässwörd-密码', '', 'x' * 1000]
# (algorithm, iterations, how many of RAW_PASSWORDS): every password at the cheap counts, fewer at 1M.
ENCODINGS = [
    ('pbkdf2_sha256', 1, 4),
    ('pbkdf2_sha256', 260000, 4),  # Django 3.2's default
    ('pbkdf2_sha256', 1000000, 2),  # Django 5.2's default
    ('pbkdf2_sha1', 260000, 2),
]
SALTS = ['fixedSaltForVectors01', 'Xy7Qm2Lp9Rt4Vw8Zb3Nc6K']
# make_password(None): Django's unusable-password marker ('!' + 40 random characters), fixed here.
UNUSABLE_PASSWORD = '!fixedUnusablePasswordMarker0123456789abcd'
SESSION_HASH_SALT = 'django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash'


def password_vectors():
    from django.contrib.auth.hashers import get_hasher
    vectors = []
    for algorithm, iterations, count in ENCODINGS:
        hasher = get_hasher(algorithm)
        for index, password in enumerate(RAW_PASSWORDS[:count]):
            salt = SALTS[index % len(SALTS)]
            encoded = hasher.encode(password, salt, iterations)
            vectors.append({'algorithm': algorithm, 'password': password, 'salt': salt, 'iterations': iterations, 'encoded': encoded})
    return vectors


def session_auth_hash_vectors(stored_passwords):
    from django.contrib.auth.models import User
    from django.test.utils import override_settings
    from django.utils.crypto import salted_hmac
    vectors = []
    for secret in SECRETS:
        for password in stored_passwords:
            with override_settings(SECRET_KEY=secret):
                django_hash = User(password=password).get_session_auth_hash()
            formula = salted_hmac(SESSION_HASH_SALT, password, secret=secret, algorithm='sha256').hexdigest()
            assert django_hash == formula, 'get_session_auth_hash() no longer is the documented salted_hmac'
            vectors.append({'password': password, 'secret': secret, 'hash': django_hash})
    return vectors


def main():
    import django
    from django.contrib.auth.hashers import make_password
    configure('auth-vectors-unused-key')  # each vector names its own secret
    passwords = password_vectors()
    stored = [v['encoded'] for v in passwords if v['password'] == RAW_PASSWORDS[1] and v['iterations'] > 1] + [UNUSABLE_PASSWORD, '']
    output = {
        'django': django.get_version(),
        'sessionAuthHash': session_auth_hash_vectors(stored),
        'passwords': passwords,
        'defaultPasswords': [{'password': password, 'encoded': make_password(password)} for password in RAW_PASSWORDS[:3]],
    }
    sys.stdout.reconfigure(encoding='utf-8')
    print(json.dumps(output, sort_keys=True, indent=2, ensure_ascii=False))


if __name__ == '__main__':
    main()
