# Les e-mails (email-templates/). $newsletter est le nom de la lettre, $name celui du lecteur,
# $list le nom d'une liste, $hours la durée de validité d'un lien.

## Commun
greeting = Bonjour { $name },
greeting-anonymous = Bonjour,
manage-subscription = Gérer votre abonnement
manage-subscription-what = votre nom, vos listes, vos données
not-me-text = Si ce n'était pas vous, ignorez cet e-mail : vous ne serez pas abonné.
not-me-link-text = Ou signalez-nous que ce n'était pas vous :
not-me-html = Si ce n'était pas vous, ignorez cet e-mail : vous ne serez pas abonné. Ou
not-me-link = signalez-nous que ce n'était pas vous
confirm-mail-button = Confirmer mon abonnement
paste-link = Ou collez ce lien dans votre navigateur (il expire dans { $hours ->
    [one] une heure
   *[other] { $hours } heures
}) :
link-expires = Le lien expire dans { $hours ->
    [one] une heure.
   *[other] { $hours } heures.
}

## Confirmation
confirmation-subject = Confirmez votre abonnement à { $newsletter }
confirmation-preheader = Un clic pour confirmer votre abonnement à { $newsletter }.
confirmation-heading = Confirmez votre abonnement
confirmation-ask = Veuillez confirmer que vous souhaitez recevoir { $newsletter }.
confirmation-ask-text = Veuillez confirmer que vous souhaitez recevoir { $newsletter } en ouvrant ce lien :
confirmation-button-note = Il ouvre une page avec un bouton ; rien ne se passe tant que vous n'appuyez pas dessus.

## Rappel
reminder-subject = Rappel : confirmez votre abonnement à { $newsletter }
reminder-heading = Plus qu'une étape
reminder-text = Vous vous êtes inscrit à { $newsletter } mais n'avez pas encore confirmé. Si vous le souhaitez toujours, confirmez ici ; c'est le seul rappel que nous envoyons.
reminder-text-plain = Vous vous êtes inscrit à { $newsletter } mais n'avez pas encore confirmé. Si vous le souhaitez toujours, confirmez en ouvrant ce lien :
reminder-only-one = C'est le seul rappel que nous envoyons : si vous ne faites rien, vous ne serez pas abonné et n'entendrez plus parler de nous.
reminder-not-me = Si ce n'était pas vous, dites-le-nous :

## Bienvenue
welcome-subject = Bienvenue dans { $newsletter }
welcome-preheader = Vous êtes abonné à { $newsletter }.
welcome-heading = Bienvenue !
welcome-thanks = Merci de votre confirmation : vous êtes désormais abonné à { $newsletter }. Le prochain numéro arrivera à cette adresse.
welcome-archive = En attendant,
welcome-archive-link = lisez les anciens numéros
welcome-archive-text = En attendant, lisez les anciens numéros :
unsubscribe = Se désabonner
with-one-click = en un clic.
unsubscribe-one-click = Se désabonner en un clic :

## Sélection
view-in-browser = Afficher dans le navigateur
view-in-browser-text = Afficher dans votre navigateur :
digest-intro = Voici les nouveautés : { $count ->
    [one] { $count } article.
   *[other] { $count } articles.
}
digest-intro-text = Voici les nouveautés de { $newsletter } : { $count ->
    [one] { $count } article.
   *[other] { $count } articles.
}
digest-why = Vous recevez { $newsletter } parce que vous vous êtes inscrit et avez confirmé votre adresse.
digest-why-list = Vous recevez { $list } de { $newsletter } parce que vous vous êtes inscrit et avez confirmé votre adresse.
digest-unsubscribe = Se désabonner
digest-unsubscribe-list = Se désabonner de { $list }
digest-one-click = en un clic
