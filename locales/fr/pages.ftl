# Les pages publiques (src/http/pages/). $newsletter est le nom de la lettre d'information.

## Le cadre de chaque page
footer = { $newsletter } · nous ne communiquons jamais votre adresse · chaque e-mail contient un lien de désabonnement
language-label = Langue

## Inscription
signup-title = Inscription
signup-heading = Inscrivez-vous ici à { $newsletter }
signup-intro = Recevez par e-mail une sélection régulière des nouveaux articles. Chaque e-mail contient un lien de désabonnement, et nous ne communiquons jamais votre adresse.
field-email = Adresse e-mail
field-your-email = Votre adresse e-mail
field-name = Nom
field-optional = (facultatif)
field-lists = Listes
subscribe-button = S'abonner
signup-note = Nous vous enverrons un e-mail pour vérifier qu'il s'agit bien de vous. Vous ne recevrez rien avant d'avoir confirmé.

## Vérifiez votre boîte de réception
inbox-title = Vérifiez votre boîte de réception
inbox-sent = Si cette adresse peut recevoir des e-mails, nous lui avons envoyé un lien pour confirmer votre abonnement. Le lien est valable { $hours ->
    [one] une heure.
   *[other] { $hours } heures.
}
inbox-nothing-yet = Rien ne se passe tant que vous n'avez pas ouvert le lien et appuyé sur le bouton de la page qui s'affiche.
inbox-no-mail = Rien reçu ? Regardez dans votre dossier de courrier indésirable, ou
inbox-sign-up-again = inscrivez-vous à nouveau dans quelques minutes

## Confirmation
confirm-title = Confirmez votre abonnement
confirm-intro = Appuyez sur le bouton pour commencer à recevoir { $newsletter } à l'adresse à laquelle ce lien a été envoyé.
confirm-button = Oui, je m'abonne
confirm-note = L'ouverture de cette page n'a rien modifié ; seul le bouton le fait. Vous ne vous êtes pas inscrit ? Fermez simplement cette page.
confirmed-title = Votre abonnement est confirmé
confirmed-already = Votre abonnement était déjà confirmé. Vous n'avez rien d'autre à faire.
confirmed-thanks = Merci de votre confirmation. Le prochain numéro de { $newsletter } arrivera dans votre boîte de réception.
confirmed-note = Chaque e-mail contient en bas un lien de désabonnement, si vous souhaitez un jour vous désinscrire.
link-expired-title = Ce lien a expiré
link-expired-text = Les liens de confirmation ne sont valables qu'un certain temps, et celui-ci est trop ancien. Vous pouvez en demander un nouveau :
link-broken-title = Ce lien ne fonctionne pas
link-broken-text = Il a déjà été utilisé, il a expiré ou il n'a pas été copié en entier. Vous pouvez en demander un nouveau :
new-link-button = M'envoyer un nouveau lien

## Désabonnement
unsubscribe-title = Se désabonner
unsubscribe-list-heading = Vous désabonner de { $list } ?
unsubscribe-list-text = Appuyez sur le bouton et nous cesserons de vous envoyer { $list }. Les autres listes de { $newsletter } auxquelles vous êtes abonné continueront d'arriver.
unsubscribe-list-button = Me désabonner de { $list }
unsubscribe-all-heading = Ou tout arrêter
unsubscribe-all-text = Plus aucun e-mail de { $newsletter }, quelle que soit la liste.
unsubscribe-all-button = Me désabonner de tout
unsubscribe-heading = Vous désabonner de { $newsletter } ?
unsubscribe-text = Appuyez sur le bouton et nous cesserons de vous envoyer des e-mails.
unsubscribe-button = Me désabonner
unsubscribe-note = L'ouverture de cette page n'a encore rien modifié.
unsubscribe-invalid-title = Ce lien de désabonnement ne fonctionne pas
unsubscribe-invalid-text = Il n'a pas été copié en entier, ou il date de plus d'un an. Veuillez utiliser le lien de désabonnement du dernier e-mail que vous avez reçu de notre part.
unsubscribe-invalid-note = Si vous continuez à recevoir des e-mails que vous n'avez pas demandés, répondez-y et nous vous retirerons manuellement.
unsubscribed-title = Vous êtes désabonné
unsubscribed-list = Vous ne recevrez plus { $list }. Les autres listes de { $newsletter } auxquelles vous êtes abonné continueront d'arriver ; chaque e-mail contient un lien pour les gérer.
unsubscribed-all = Vous ne recevrez plus aucun e-mail de { $newsletter }.
changed-mind = Vous avez changé d'avis ?
sign-up-again-any-time = Vous pouvez vous réinscrire à tout moment.

## Préférences
preferences-title = Votre abonnement
preferences-for = Pour { $email }. L'ouverture de cette page n'a rien modifié ; appuyez sur « Enregistrer » pour conserver vos modifications.
preferences-saved = Vos préférences sont enregistrées.
preferences-inactive = Vous vous êtes désabonné de tout : nous ne vous envoyons donc rien, quelles que soient les listes.
preferences-your-lists = Vos listes
preferences-pending = Votre adresse n'est pas encore confirmée : les listes choisies commenceront dès que vous aurez ouvert le lien de l'e-mail de confirmation.
preferences-language-hint = pour les pages et les e-mails que nous vous envoyons
save-button = Enregistrer
preferences-unsubscribe-heading = Me désabonner de tout
preferences-unsubscribe-text = Plus aucun e-mail de { $newsletter }, quelle que soit la liste.
preferences-data-heading = Vos données
preferences-download = Télécharger mes données
preferences-download-text = (JSON) : votre adresse, votre nom, vos listes, vos consentements et les e-mails que nous vous avons envoyés.
preferences-erase = M'effacer
preferences-erase-text = : supprimer tout ce que nous détenons sur vous. Nous vous le redemandons avant quoi que ce soit.
erase-title = Effacer vos données ?
erase-heading = Effacer tout ce qui vous concerne ?
erase-text = Nous supprimerons { $email }, votre nom, vos listes, vos consentements et la trace de chaque e-mail que nous vous avons envoyé. Cette action est irréversible, et les liens de nos e-mails cesseront de fonctionner.
erase-button = Oui, m'effacer
erase-back = Retour à votre abonnement
erase-note = L'ouverture de cette page n'a rien modifié.
erased-title = Vos données sont effacées
erased-text = Nous ne détenons plus rien sur vous, et vous ne recevrez plus d'e-mails de { $newsletter }.
erased-note = Si vous vous étiez désabonné ou si nos e-mails vous étaient retournés, nous ne conservons qu'une empreinte irréversible de l'adresse, afin que personne ne puisse la réinscrire sans que vous vous inscriviez vous-même.
preferences-invalid-text = Il est peut-être incomplet (copiez le lien entier depuis l'e-mail), trop ancien, ou vos données ont été effacées.
preferences-invalid-note = Chaque e-mail de { $newsletter } contient un nouveau lien « Gérer votre abonnement ». Rien n'a été modifié.

## Pages d'erreur
error-back = Retour à la page d'inscription
error-unavailable = Momentanément indisponible
error-too-many = Trop de requêtes
error-not-found = Page introuvable
error-internal = Une erreur s'est produite
error-failed = Cela n'a pas fonctionné
error-internal-text = Une erreur s'est produite de notre côté. Veuillez réessayer plus tard.
error-unavailable-text = Le service est indisponible pour le moment. Veuillez réessayer dans un instant.
error-too-many-text = Trop de requêtes. Veuillez patienter une minute, puis réessayer.
invalid-email = Veuillez saisir une adresse e-mail valide.
invalid-name = Veuillez raccourcir le nom à une seule ligne de 100 caractères au plus.
invalid-lists = Veuillez choisir au moins une des listes proposées.
invalid-other = Veuillez vérifier votre saisie.

## Archives
archive-title = Archives
archive-heading = Anciens numéros de { $newsletter }
archive-every-list = Les numéros de toutes les listes
archive-empty = Aucun numéro n'a encore été envoyé.
archive-count = { $count ->
    [one] { $count } numéro sur cette page.
   *[other] { $count } numéros sur cette page.
}
archive-pages = Pages des archives
archive-newer = Numéros plus récents
archive-older = Numéros plus anciens
archive-feed = Flux Atom
archive-subscribe-to = S'abonner à { $newsletter }
archive-all-issues = Tous les numéros
archive-next-by-mail = Recevoir le prochain numéro par e-mail
archive-read-on = Lire la suite dans les archives
archive-too-long = : ce numéro est trop long pour le flux.
date = { $day } { $month } { $year }
month-1 = janvier
month-2 = février
month-3 = mars
month-4 = avril
month-5 = mai
month-6 = juin
month-7 = juillet
month-8 = août
month-9 = septembre
month-10 = octobre
month-11 = novembre
month-12 = décembre
