# Las páginas públicas (src/http/pages/). $newsletter es el nombre del boletín.

## El marco de cada página
footer = { $newsletter } · nunca compartimos su dirección · cada correo incluye un enlace para darse de baja
language-label = Idioma

## Suscripción
signup-title = Suscribirse
signup-heading = Suscríbase aquí a { $newsletter }
signup-intro = Reciba por correo electrónico un resumen periódico de los nuevos artículos. Cada correo incluye un enlace para darse de baja, y nunca compartimos su dirección.
field-email = Correo electrónico
field-your-email = Su correo electrónico
field-name = Nombre
field-optional = (opcional)
field-lists = Listas
subscribe-button = Suscribirme
signup-note = Le enviaremos un correo para confirmar que es usted. No le enviaremos nada hasta que lo confirme.

## Revise su bandeja de entrada
inbox-title = Revise su bandeja de entrada
inbox-sent = Si esa dirección puede recibir correo, le hemos enviado un enlace para confirmar su suscripción. El enlace es válido durante { $hours ->
    [one] una hora.
   *[other] { $hours } horas.
}
inbox-nothing-yet = No ocurrirá nada hasta que abra el enlace y pulse el botón de la página que se muestra.
inbox-no-mail = ¿No le ha llegado nada? Revise su carpeta de correo no deseado, o
inbox-sign-up-again = vuelva a suscribirse dentro de unos minutos

## Confirmación
confirm-title = Confirme su suscripción
confirm-intro = Pulse el botón para empezar a recibir { $newsletter } en la dirección a la que se envió este enlace.
confirm-button = Sí, suscribirme
confirm-note = Abrir esta página no ha cambiado nada; solo el botón lo hace. ¿No se ha suscrito? Simplemente cierre esta página.
confirmed-title = Su suscripción está confirmada
confirmed-already = Su suscripción ya estaba confirmada. No tiene que hacer nada más.
confirmed-thanks = Gracias por confirmar. El próximo número de { $newsletter } llegará a su bandeja de entrada.
confirmed-note = Cada correo incluye al final un enlace para darse de baja, por si algún día desea dejar de recibirlo.
link-expired-title = Este enlace ha caducado
link-expired-text = Los enlaces de confirmación solo son válidos durante un tiempo, y este es demasiado antiguo. Puede solicitar uno nuevo:
link-broken-title = Este enlace no funciona
link-broken-text = Ya se ha utilizado, ha caducado o no se copió completo. Puede solicitar uno nuevo:
new-link-button = Enviarme un enlace nuevo

## Baja
unsubscribe-title = Darse de baja
unsubscribe-list-heading = ¿Darse de baja de { $list }?
unsubscribe-list-text = Pulse el botón y dejaremos de enviarle { $list }. Seguirá recibiendo las demás listas de { $newsletter } a las que esté suscrito.
unsubscribe-list-button = Darme de baja de { $list }
unsubscribe-all-heading = O dejar de recibirlo todo
unsubscribe-all-text = Ningún correo más de { $newsletter }, sea cual sea la lista.
unsubscribe-all-button = Darme de baja de todo
unsubscribe-heading = ¿Darse de baja de { $newsletter }?
unsubscribe-text = Pulse el botón y dejaremos de enviarle correos.
unsubscribe-button = Darme de baja
unsubscribe-note = Abrir esta página todavía no ha cambiado nada.
unsubscribe-invalid-title = Este enlace para darse de baja no funciona
unsubscribe-invalid-text = No se copió completo o tiene más de un año. Utilice el enlace para darse de baja del correo más reciente que le hayamos enviado.
unsubscribe-invalid-note = Si sigue recibiendo correos que no ha solicitado, respóndanos y le daremos de baja manualmente.
unsubscribed-title = Se ha dado de baja
unsubscribed-list = Ya no recibirá { $list }. Seguirá recibiendo las demás listas de { $newsletter } a las que esté suscrito; cada correo incluye un enlace para gestionarlas.
unsubscribed-all = Ya no recibirá más correos de { $newsletter }.
changed-mind = ¿Ha cambiado de opinión?
sign-up-again-any-time = Puede volver a suscribirse en cualquier momento.

## Preferencias
preferences-title = Su suscripción
preferences-for = Para { $email }. Abrir esta página no ha cambiado nada; pulse «Guardar» para conservar sus cambios.
preferences-saved = Sus preferencias se han guardado.
preferences-inactive = Se ha dado de baja de todo, así que no le enviamos nada, sean cuales sean las listas.
preferences-your-lists = Sus listas
preferences-pending = Su dirección aún no está confirmada: las listas que elija empezarán en cuanto abra el enlace del correo de confirmación.
preferences-language-hint = para las páginas y los correos que le enviamos
save-button = Guardar
preferences-unsubscribe-heading = Darme de baja de todo
preferences-unsubscribe-text = Ningún correo más de { $newsletter }, sea cual sea la lista.
preferences-data-heading = Sus datos
preferences-download = Descargar mis datos
preferences-download-text = (JSON): su dirección, su nombre, sus listas, sus consentimientos y los correos que le hemos enviado.
preferences-erase = Borrarme
preferences-erase-text = : eliminar todo lo que guardamos sobre usted. Se lo preguntaremos una vez más antes de hacer nada.
erase-title = ¿Borrar sus datos?
erase-heading = ¿Borrar todo lo que tenemos sobre usted?
erase-text = Eliminaremos { $email }, su nombre, sus listas, sus consentimientos y el registro de cada correo que le hemos enviado. Esta acción no se puede deshacer, y los enlaces de nuestros correos dejarán de funcionar.
erase-button = Sí, borrarme
erase-back = Volver a su suscripción
erase-note = Abrir esta página no ha cambiado nada.
erased-title = Sus datos se han borrado
erased-text = Ya no guardamos nada sobre usted, y no recibirá más correos de { $newsletter }.
erased-note = Si se había dado de baja o sus correos eran devueltos, solo conservamos una huella irreversible de la dirección, para que nadie pueda volver a añadirla sin que usted se suscriba.
preferences-invalid-text = Puede que esté incompleto (copie el enlace entero del correo), que sea demasiado antiguo o que sus datos se hayan borrado.
preferences-invalid-note = Cada correo de { $newsletter } incluye un enlace nuevo «Gestionar su suscripción». No se ha cambiado nada.

## Páginas de error
error-back = Volver a la página de suscripción
error-unavailable = No disponible temporalmente
error-too-many = Demasiadas solicitudes
error-not-found = Página no encontrada
error-internal = Algo ha salido mal
error-failed = Eso no ha funcionado
error-internal-text = Algo ha salido mal por nuestra parte. Vuelva a intentarlo más tarde.
error-unavailable-text = El servicio no está disponible en este momento. Vuelva a intentarlo en un instante.
error-too-many-text = Demasiadas solicitudes. Espere un minuto y vuelva a intentarlo.
invalid-email = Introduzca una dirección de correo electrónico válida.
invalid-name = Acorte el nombre a una sola línea de 100 caracteres como máximo.
invalid-lists = Elija al menos una de las listas mostradas.
invalid-other = Revise los datos introducidos.

## Archivo
archive-title = Archivo
archive-heading = Números anteriores de { $newsletter }
archive-every-list = Los números de todas las listas
archive-empty = Todavía no se ha enviado ningún número.
archive-count = { $count ->
    [one] Un número en esta página.
   *[other] { $count } números en esta página.
}
archive-pages = Páginas del archivo
archive-newer = Números más recientes
archive-older = Números más antiguos
archive-feed = Canal Atom
archive-subscribe-to = Suscribirse a { $newsletter }
archive-all-issues = Todos los números
archive-next-by-mail = Reciba el próximo número por correo
archive-read-on = Seguir leyendo en el archivo
archive-too-long = : este número es demasiado largo para el canal.
date = { $day } de { $month } de { $year }
month-1 = enero
month-2 = febrero
month-3 = marzo
month-4 = abril
month-5 = mayo
month-6 = junio
month-7 = julio
month-8 = agosto
month-9 = septiembre
month-10 = octubre
month-11 = noviembre
month-12 = diciembre
