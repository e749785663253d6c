-- The web interface: users with roles, their sessions, and the advisors' memo.
-- Passwords are stored as scrypt hashes (web/passwords.py), session tokens as SHA-256 digests:
-- a copy of this table lets nobody log in.
CREATE TABLE IF NOT EXISTS web_users (
    id            bigserial PRIMARY KEY,
    name          text        NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9._-]{1,31}$'),
    role          text        NOT NULL CHECK (role IN ('admin', 'supervisor', 'advisor')),
    line          text,       -- an advisor's partner line (e.g. cma-01): their own status and screen pop
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled      boolean     NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS web_sessions (
    token_sha256  bytea       PRIMARY KEY,
    user_id       bigint      NOT NULL REFERENCES web_users (id) ON DELETE CASCADE,
    csrf          text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_expires ON web_sessions (expires_at);

-- The advisors' memo, in sections; a section applies to the callers whose need and sector
-- are listed (an empty list = every caller).
CREATE TABLE IF NOT EXISTS memo_sections (
    id          bigserial   PRIMARY KEY,
    title       text        NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body        text        NOT NULL DEFAULT '',
    needs       text[]      NOT NULL DEFAULT '{}',
    sectors     text[]      NOT NULL DEFAULT '{}',
    updated_by  text        NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO memo_sections (title, body, needs, sectors, updated_by) VALUES
 ('Chômage partiel (activité partielle)',
  'Orienter vers la DIRECCTE. Demande en ligne sur la plateforme activité partielle, dans les 30 jours suivant le placement des salariés. Vérifier le numéro SIRET et l''effectif.',
  '{difficulty}', '{}', 'migration'),
 ('Fonds de solidarité : indépendants et micro-entreprises',
  'Aide forfaitaire mensuelle pour les entreprises de moins de 10 salariés ayant perdu au moins 50 % de leur chiffre d''affaires. Demande sur l''espace particulier des impôts.',
  '{difficulty}', '{}', 'migration'),
 ('Artisans : interlocuteur CMA',
  'Pour les artisans, proposer un rendez-vous avec le conseiller de la chambre de métiers du département (aides régionales, report de charges, formalités).',
  '{}', '{crafts}', 'migration'),
 ('Commerce et industrie : interlocuteur CCI',
  'Pour les commerçants et industriels, la CCI accompagne le prêt garanti par l''État et les démarches auprès des banques.',
  '{}', '{commerce,industry}', 'migration'),
 ('Créer ou reprendre une entreprise',
  'Envoyer la brochure, proposer un rendez-vous avec le partenaire le plus proche et prévenir du rappel à J+8.',
  '{creation}', '{}', 'migration');
