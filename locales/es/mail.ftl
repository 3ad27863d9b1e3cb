# Los correos (email-templates/). $newsletter es el nombre del boletín, $name el del lector,
# $list el nombre de una lista, $hours cuánto tiempo es válido un enlace.

## Común
greeting = Hola, { $name }:
greeting-anonymous = Hola:
manage-subscription = Gestionar su suscripción
manage-subscription-what = su nombre, sus listas, sus datos
not-me-text = Si no ha sido usted, ignore este correo y no quedará suscrito.
not-me-link-text = O indíquenos que no ha sido usted:
not-me-html = Si no ha sido usted, ignore este correo y no quedará suscrito. O
not-me-link = indíquenos que no ha sido usted
confirm-mail-button = Confirmar mi suscripción
paste-link = O pegue este enlace en su navegador (caduca en { $hours ->
    [one] una hora
   *[other] { $hours } horas
}):
link-expires = El enlace caduca en { $hours ->
    [one] una hora.
   *[other] { $hours } horas.
}

## Confirmación
confirmation-subject = Confirme su suscripción a { $newsletter }
confirmation-preheader = Un clic para confirmar su suscripción a { $newsletter }.
confirmation-heading = Confirme su suscripción
confirmation-ask = Confirme que desea recibir { $newsletter }.
confirmation-ask-text = Confirme que desea recibir { $newsletter } abriendo este enlace:
confirmation-button-note = Se abrirá una página con un botón; no ocurrirá nada hasta que lo pulse.

## Recordatorio
reminder-subject = Recordatorio: confirme su suscripción a { $newsletter }
reminder-heading = Solo falta un paso
reminder-text = Se suscribió a { $newsletter }, pero todavía no lo ha confirmado. Si aún lo desea, confírmelo aquí; es el único recordatorio que enviamos.
reminder-text-plain = Se suscribió a { $newsletter }, pero todavía no lo ha confirmado. Si aún lo desea, confírmelo abriendo este enlace:
reminder-only-one = Es el único recordatorio que enviamos: si no hace nada, no quedará suscrito y no volverá a saber de nosotros.
reminder-not-me = Si no ha sido usted, indíquenoslo:

## Bienvenida
welcome-subject = Bienvenido a { $newsletter }
welcome-preheader = Está suscrito a { $newsletter }.
welcome-heading = ¡Bienvenido!
welcome-thanks = Gracias por confirmar: ya está suscrito a { $newsletter }. El próximo número llegará a esta dirección.
welcome-archive = Mientras tanto,
welcome-archive-link = lea los números anteriores
welcome-archive-text = Mientras tanto, lea los números anteriores:
unsubscribe = Darse de baja
with-one-click = con un clic.
unsubscribe-one-click = Darse de baja con un clic:

## Resumen
view-in-browser = Ver en el navegador
view-in-browser-text = Véalo en su navegador:
digest-intro = Estas son las novedades: { $count ->
    [one] un artículo.
   *[other] { $count } artículos.
}
digest-intro-text = Estas son las novedades de { $newsletter }: { $count ->
    [one] un artículo.
   *[other] { $count } artículos.
}
digest-why = Recibe { $newsletter } porque se suscribió y confirmó su dirección.
digest-why-list = Recibe { $list } de { $newsletter } porque se suscribió y confirmó su dirección.
digest-unsubscribe = Darse de baja
digest-unsubscribe-list = Darse de baja de { $list }
digest-one-click = con un clic
